"""Actors: the supervisor, one SiteActor per site (on its own thread), one DeviceActor per
device (hosted on its site's thread), and the clock."""
