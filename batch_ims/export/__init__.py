"""`batch-ims export`: the current values of listed images as an editable wide manifest."""
