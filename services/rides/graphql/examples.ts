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
    query: `# The stream's path: positions of drivers in one call (at most 100), each taken at its own time, answered once
# Kafka has them. "at" is when each was taken (now, give or take: at most 24 h old, 60 s ahead); an offline
# driver's position comes back in "rejected" (run Hail first).
mutation Stream($at: DateTime!) {
  updateDriverLocations(locations: [
    { driverId: "d1", location: { lat: 48.8590, lng: 2.3000 }, at: $at }
  ]) {
    accepted
    rejected { driverId code message }
  }
}
`,
    // The time the gateway started: within the window for a day (it takes positions up to 24 h old).
    variables: JSON.stringify({ at: new Date().toISOString() }),
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
