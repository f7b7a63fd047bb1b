# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Token buckets keyed by any hashable, bounded in memory by LRU eviction.

Bucket state lives in C arrays indexed by a slot number; a dict maps each key
to its slot, and an intrusive doubly linked list over the slots keeps the
recency order, so ``take`` is one dict lookup and a few array writes.
"""

cimport cython
from libc.math cimport isfinite, INFINITY
from libc.stdlib cimport free, realloc
from cpython.dict cimport PyDict_GetItemWithError, PyDict_SetItem, PyDict_DelItem
from cpython.long cimport PyLong_AsSsize_t
from cpython.object cimport PyObject

cdef Py_ssize_t NIL = -1


cdef double as_number(object value, str name, bint non_negative) except? -1.0:
    cdef double number
    if type(value) is float:
        number = <double>value
    elif type(value) is int:
        try:
            number = <double>value
        except OverflowError:
            raise ValueError(f"{name} is out of range") from None
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    else:
        return as_number(float(value), name, non_negative)
    if not isfinite(number):
        raise ValueError(f"{name} must be a finite number")
    if non_negative and number < 0:
        raise ValueError(f"{name} must be at least 0.0")
    return number


@cython.auto_pickle(False)
@cython.final
cdef class TokenBuckets:
    """Token buckets keyed by any hashable, least recently used evicted.

    A new key starts with a full bucket of ``burst`` tokens, which refill at
    ``rate`` tokens per second. Time that goes backwards refills nothing.
    """

    cdef readonly double rate
    cdef readonly double burst
    cdef readonly Py_ssize_t max_keys
    cdef Py_ssize_t size, capacity, head, tail
    cdef double* tokens
    cdef double* last
    cdef Py_ssize_t* newer
    cdef Py_ssize_t* older
    cdef dict slots
    cdef list keys

    def __cinit__(self, rate, burst, max_keys=100_000):
        self.rate = as_number(rate, "rate", True)
        self.burst = as_number(burst, "burst", True)
        if self.burst <= 0:
            raise ValueError("burst must be positive")
        if isinstance(max_keys, bool) or not isinstance(max_keys, int):
            raise TypeError(f"max_keys must be an int, not {type(max_keys).__name__}")
        if not 1 <= max_keys <= 2**31 - 1:
            raise ValueError(f"max_keys must be between 1 and {2**31 - 1}, got {max_keys}")
        self.max_keys = max_keys
        self.slots = {}
        self.keys = []
        self.head = self.tail = NIL

    def __dealloc__(self):
        free(self.tokens)
        free(self.last)
        free(self.newer)
        free(self.older)

    cdef int grow(self) except -1:
        cdef Py_ssize_t capacity = min(max(16, 2 * self.capacity), self.max_keys)
        cdef void* p
        p = realloc(self.tokens, capacity * sizeof(double))
        if p == NULL:
            raise MemoryError()
        self.tokens = <double*>p
        p = realloc(self.last, capacity * sizeof(double))
        if p == NULL:
            raise MemoryError()
        self.last = <double*>p
        p = realloc(self.newer, capacity * sizeof(Py_ssize_t))
        if p == NULL:
            raise MemoryError()
        self.newer = <Py_ssize_t*>p
        p = realloc(self.older, capacity * sizeof(Py_ssize_t))
        if p == NULL:
            raise MemoryError()
        self.older = <Py_ssize_t*>p
        self.capacity = capacity
        return 0

    cdef inline void unlink(self, Py_ssize_t slot) noexcept:
        if self.newer[slot] != NIL:
            self.older[self.newer[slot]] = self.older[slot]
        else:
            self.head = self.older[slot]
        if self.older[slot] != NIL:
            self.newer[self.older[slot]] = self.newer[slot]
        else:
            self.tail = self.newer[slot]

    cdef inline void push_front(self, Py_ssize_t slot) noexcept:
        self.newer[slot] = NIL
        self.older[slot] = self.head
        if self.head != NIL:
            self.newer[self.head] = slot
        self.head = slot
        if self.tail == NIL:
            self.tail = slot

    cdef Py_ssize_t add(self, object key, double now) except -1:
        cdef Py_ssize_t slot
        if self.size < self.max_keys:
            if self.size == self.capacity:
                self.grow()
            slot = self.size
            self.keys.append(key)
            self.size += 1
        else:
            slot = self.tail
            self.unlink(slot)
            PyDict_DelItem(self.slots, self.keys[slot])
            self.keys[slot] = key
        PyDict_SetItem(self.slots, key, slot)
        self.tokens[slot] = self.burst
        self.last[slot] = now
        self.push_front(slot)
        return slot

    cdef inline Py_ssize_t find(self, object key) except -2:
        cdef PyObject* found = PyDict_GetItemWithError(self.slots, key)
        if found == NULL:
            return NIL
        return PyLong_AsSsize_t(<object>found)

    cdef inline void refill(self, Py_ssize_t slot, double now) noexcept:
        cdef double tokens
        if now > self.last[slot]:
            tokens = self.tokens[slot] + (now - self.last[slot]) * self.rate
            self.tokens[slot] = tokens if tokens < self.burst else self.burst
            self.last[slot] = now

    def take(self, key, now, cost=1.0):
        """Take ``cost`` tokens from ``key``'s bucket at time ``now``; say whether it had them."""
        cdef double t = as_number(now, "now", False)
        cdef double c = as_number(cost, "cost", True)
        cdef Py_ssize_t slot = self.find(key)
        if slot == NIL:
            slot = self.add(key, t)
        else:
            if slot != self.head:
                self.unlink(slot)
                self.push_front(slot)
            self.refill(slot, t)
        if self.tokens[slot] >= c:
            self.tokens[slot] -= c
            return True
        return False

    def retry_after(self, key, now, cost=1.0):
        """Seconds until ``take(key, now + result, cost)`` would succeed."""
        cdef double t = as_number(now, "now", False)
        cdef double c = as_number(cost, "cost", True)
        cdef Py_ssize_t slot = self.find(key)
        cdef double tokens = self.burst
        if slot != NIL:
            tokens = self.tokens[slot]
            if t > self.last[slot]:
                tokens = min(self.burst, tokens + (t - self.last[slot]) * self.rate)
        if tokens >= c:
            return 0.0
        if c > self.burst or self.rate == 0.0:
            return INFINITY
        return (c - tokens) / self.rate

    def __len__(self):
        return self.size

    def __contains__(self, key):
        return self.find(key) != NIL
