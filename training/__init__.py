"""Training stage: datasets -> fitted model -> MLflow run -> registry."""
