"""The HTTP edge shared by every function: request models, problem+json errors, resolver setup."""
