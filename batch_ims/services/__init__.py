"""Image services: everything that knows which API batch-ims is talking to.

One module per service (`ims`); each offers an `ImageService` (see `base`). The rest of the
tool asks the service for requests, error readings and image documents, and knows nothing
else about the API.
"""

from batch_ims.services.base import ImageService

__all__ = ["ImageService"]
