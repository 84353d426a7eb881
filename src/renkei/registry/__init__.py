"""The hub's directory (台帳): organisations, member systems, their credentials, the services they provide
and the purposes (事務) information may be used for; the deployment's certificate authority; and the
request signature every member puts on its calls to the hub.

The exchange builds on three things here:

* :class:`renkei.registry.service.Registry` — enrolment and the directory queries (``member``,
  ``provided_services``, ``provider_of``, ``purpose`` …);
* :class:`renkei.registry.auth.RequestAuthenticator` — ``authenticate(token, method, path, body)`` returns
  the :class:`~renkei.registry.identifiers.MemberId` that signed the request, or raises a typed
  ``registry.auth.*`` error;
* :func:`renkei.registry.auth.sign_request` — what a member (or a test, or the hub calling a federated hub)
  puts in the ``X-Renkei-Signature`` header.
"""
