"""Measurements of a trained model: the representation study (protocols, label budgets, random init)
and hallucination. Imports only the core modules beside the package root."""
