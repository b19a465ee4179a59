-- CreateEnum
CREATE TYPE "OrderState" AS ENUM ('CREATED', 'VALIDATED', 'FAILED');

-- CreateEnum
CREATE TYPE "CheckType" AS ENUM ('INVENTORY_CHECK', 'FRAUD_CHECK', 'ORDER_DETAILS_CHECK');

-- CreateEnum
CREATE TYPE "ValidationResult" AS ENUM ('PASS', 'FAIL');

-- CreateTable
CREATE TABLE "orders" (
    "id" TEXT NOT NULL,
    "customer_id" TEXT NOT NULL,
    "product" TEXT NOT NULL,
    "quantity" INTEGER NOT NULL,
    "price" DOUBLE PRECISION NOT NULL,
    "state" "OrderState" NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "orders_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "order_validations" (
    "order_id" TEXT NOT NULL,
    "check_type" "CheckType" NOT NULL,
    "result" "ValidationResult" NOT NULL,
    "reason" TEXT,
    "recorded_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "order_validations_pkey" PRIMARY KEY ("order_id","check_type")
);

-- CreateTable
CREATE TABLE "inventory_items" (
    "product" TEXT NOT NULL,
    "stock" INTEGER NOT NULL,
    "reserved" INTEGER NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "inventory_items_pkey" PRIMARY KEY ("product")
);

-- CreateTable
CREATE TABLE "projection_offsets" (
    "projector" TEXT NOT NULL,
    "topic" TEXT NOT NULL,
    "partition" INTEGER NOT NULL,
    "next_offset" BIGINT NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "projection_offsets_pkey" PRIMARY KEY ("projector","topic","partition")
);

-- CreateIndex
CREATE INDEX "orders_customer_id_created_at_id_idx" ON "orders"("customer_id", "created_at", "id");

-- CreateIndex
CREATE INDEX "orders_state_created_at_id_idx" ON "orders"("state", "created_at", "id");

-- CreateIndex
CREATE INDEX "orders_created_at_id_idx" ON "orders"("created_at", "id");
