-- AlterTable
ALTER TABLE "orders" ALTER COLUMN "price" SET DATA TYPE DECIMAL(14,2);

-- AlterTable
ALTER TABLE "projection_offsets" ADD COLUMN     "cluster_id" TEXT;
