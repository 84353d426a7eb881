"""``tenancy``: municipalities on one deployment (not built yet) and federation with other deployments.

Federation (``docs/federation.md``): each deployment (``DC1``, ``DC2`` …) runs its own hub, database and
certificate authority. Operators exchange signed trust lists out of band (:mod:`~renkei.tenancy.trust`);
hubs then talk over mutual TLS (:mod:`~renkei.tenancy.tls`), each identifying the other from the
certificate it presented (:mod:`~renkei.tenancy.asgi`), and :meth:`Federation.route
<renkei.tenancy.federation.Federation.route>` says whether a member system is served here or by a peer.
"""
