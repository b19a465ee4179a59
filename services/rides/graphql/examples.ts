/** The operations the playground opens with for the rides domain. */
export const EXAMPLE_TABS = [
  {
    query: `# A driver goes online near the Eiffel Tower; a rider 1 km away hails a ride: the driver is assigned.
mutation Hail {
  goOnline(driverId: "d1", location: { lat: 48.8584, lng: 2.2945 }) { id status }
  requestRide(input: { riderId: "r1", pickup: { lat: 48.8606, lng: 2.3376 }, dropoff: { lat: 48.8738, lng: 2.2950 } }) {
    id
    state
    driverId
  }
}
`,
  },
  {
    query: `# Follow a ride: every state, and its driver approaching (paste the ride's id).
subscription Follow($rideId: ID!) {
  rideUpdated(rideId: $rideId) {
    state
    driverId
    driverLocation { lat lng }
  }
}
`,
    variables: '{ "rideId": "" }',
  },
];
