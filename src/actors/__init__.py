"""Actors: the supervisor, one SiteActor per site (the sites of a process take turns on one
thread: ``shared_thread``), one DeviceActor per device (hosted on its site), and the clock."""
