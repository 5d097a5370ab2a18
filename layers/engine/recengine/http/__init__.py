"""The HTTP edge every function shares: the resolver, problem+json, wire primitives."""
