"""Cells -> tables (md, csv, tex, html), figures, published-vs-reproduced, tables rebuilt from MLflow."""
