-- CreateTable
CREATE TABLE "movies" (
    "id" BIGINT NOT NULL,
    "title" TEXT NOT NULL,
    "release_year" INTEGER,
    "country" TEXT,
    "genres" TEXT[],
    "removed" BOOLEAN NOT NULL DEFAULT false,
    "rating_count" INTEGER NOT NULL DEFAULT 0,
    "rating_sum_tenths" BIGINT NOT NULL DEFAULT 0,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "movies_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "movies_rating_count_idx" ON "movies"("rating_count");
