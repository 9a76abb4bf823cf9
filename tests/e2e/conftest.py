# The browser fixtures, for every browser test.
from tests.e2e.test_browser_sign_in import browser, demo_accounts  # noqa: F401
