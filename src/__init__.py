"""sitelink: one live MQTT connection per site, kept by actors, shown live over HTTP."""

__version__ = "0.1.0"
