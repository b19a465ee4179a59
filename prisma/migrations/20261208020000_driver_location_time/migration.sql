-- AlterTable
ALTER TABLE "drivers" ADD COLUMN     "location_at" TIMESTAMPTZ(3);
