"""Where models come from: the catalog (data) and loaders per source."""
