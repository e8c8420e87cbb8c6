"""Actors: the supervisor, one SiteActor per site, one DeviceActor per device, and the clock."""
