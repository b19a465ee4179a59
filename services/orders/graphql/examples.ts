/**
 * The operations the playground opens with, one tab each. GraphiQL shows them only on a first visit:
 * after that it restores the tabs the user left (from the browser's local storage).
 */
export const EXAMPLE_TABS = [
  {
    query: `# Every product with stock.
# Run it with the ▶ button or Ctrl-Enter.
query Inventory {
  inventory {
    product
    stock
    reserved
    available
  }
}
`,
  },
  {
    query: `# Places an order; answers once queries can see it
# (state CREATED or later). The same id twice is one
# order: change the id to place another.
mutation PlaceOrder($input: PlaceOrderInput!) {
  placeOrder(input: $input) {
    id
    state
    validations {
      checkType
      result
      reason
    }
  }
}
`,
    variables: JSON.stringify(
      { input: { id: 'order-1', customerId: 'customer-1', product: 'JUMPERS', quantity: 1, price: 25 } },
      null,
      2,
    ),
  },
  {
    query: `# Follows one order over graphql-ws: its current
# state, each verdict, then VALIDATED or FAILED.
# Start it, then place the order with this id from
# a second browser tab (the PlaceOrder example).
subscription WatchOrder($id: ID!) {
  orderUpdated(id: $id) {
    id
    state
    validations {
      checkType
      result
      reason
    }
    updatedAt
  }
}
`,
    variables: JSON.stringify({ id: 'order-1' }, null, 2),
  },
];
