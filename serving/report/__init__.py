"""Response-time, SLA and peak-hour reports for webcare leads.

Two inputs, one report: a brand's conversation history (``history``) or the
API's own score records (``records``) become one mentions frame; ``figures``
turns it into JSON-ready numbers and ``render`` into a self-contained HTML page.
"""
