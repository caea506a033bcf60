"""toymae: a toy masked autoencoder on ShapeWorld, with probes, a CLI and a dashboard."""

__version__ = "0.1.0"
