"""Machine formats at the edge: JSON, CSV, HTML. No rich: tables for people are cli/render/."""
