"""A TrustBundle: its sources and the ConfigMaps it is published to."""
