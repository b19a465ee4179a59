-- The region whose dispatcher decides a driver (issue 23, regions): set when it goes online; null before regions.
ALTER TABLE "drivers" ADD COLUMN "region" TEXT;
