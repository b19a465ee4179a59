-- Every domain's events, by entity and time (services/shared/event-index.ts).
CREATE TABLE "event_index" (
    "event_id" TEXT NOT NULL,
    "aggregate_id" TEXT NOT NULL,
    "occurred_at" TIMESTAMPTZ(3) NOT NULL,
    "topic" TEXT NOT NULL,
    "partition" INTEGER NOT NULL,
    "offset" BIGINT NOT NULL,
    "type" TEXT NOT NULL,
    "correlation_id" TEXT NOT NULL,
    "actor" JSONB,
    "data" JSONB NOT NULL,

    CONSTRAINT "event_index_pkey" PRIMARY KEY ("event_id")
);

-- CreateIndex
CREATE INDEX "event_index_aggregate_id_occurred_at_topic_partition_offset_idx" ON "event_index"("aggregate_id", "occurred_at", "topic", "partition", "offset");
