-- CreateTable
CREATE TABLE "inventory_applied_events" (
    "event_id" TEXT NOT NULL,
    "product" TEXT NOT NULL,

    CONSTRAINT "inventory_applied_events_pkey" PRIMARY KEY ("event_id")
);
