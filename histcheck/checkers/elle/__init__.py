"""Elle-style transactional checking: list-append and rw-register histories judged by dependency cycles.

``list_append.ListAppend`` and ``rw_register.RwRegister`` are the checkers (registered as ``list-append`` and
``rw-register``); ``core`` holds what they share, ``graph`` the dependency graph and its cycle search, ``models``
the consistency-model hierarchy, ``explain`` the sentences, ``figure`` the drawing.  docs/elle.md says what each
anomaly means and how the version orders are inferred.
"""
