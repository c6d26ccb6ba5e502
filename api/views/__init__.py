"""The REST API (/api/v1/): thin views over the services and selectors of the domain apps, one module
per resource (api.urls routes them).

Every queryset starts from what the caller may reach (collections_app.access), so an object outside it
is 404 - read or write. Every write reads its input through a serializer and calls the one service for
that operation; the services check the role, the state machine and the contact policy, and write the
timeline. Refusals come back through api.errors as one envelope with the status the DomainError names.

Concurrency: `GET /cases/{id}/` answers `ETag: "<version>"`; a case action sent with
`If-Match: "<version>"` is refused with 412 `concurrent_update` if the case changed since.
"""
