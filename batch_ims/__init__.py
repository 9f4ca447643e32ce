"""batch-ims: bulk-update Huawei Cloud IMS image properties from a manifest."""

__version__ = "0.1.0"
