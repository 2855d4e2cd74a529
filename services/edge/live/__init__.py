"""The edge's live side: `/v1/ws` topics fed by one gRPC subscription each (see `hub`,
`feeds`, `ws`)."""
