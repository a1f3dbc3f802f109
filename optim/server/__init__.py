"""The team's tracking server: mlflow on a PostgreSQL cluster of its own, with optional
sign-in that signs reviewers' decisions (``python -m optim.server``; README "Scaling out")."""
