"""Local stack: moto-backed AWS, a gateway that serves the functions, demo data."""
