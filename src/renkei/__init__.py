"""renkei (連携): an open implementation of Japan's Regional Information Platform.

地域情報プラットフォーム — the standard as data, the exchange hub and the services around it.
"""

__version__ = "0.1.0"
