"""Kubernetes PodCertificateRequests addressed to certmint: how they are read and judged."""
