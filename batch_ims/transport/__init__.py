"""HTTP only: the session, one request, the retry loop, the rate limiter.

Knows nothing of the run or of which image service it talks to.
"""
