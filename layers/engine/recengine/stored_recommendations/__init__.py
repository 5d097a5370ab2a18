"""Stored recommendations: batch generation's precomputed lists as RecommendAI's recommendation records."""
