"""GraphQL at POST /graphql (RecommendAI's operations): an edge, like http, over the REST routes' services."""
