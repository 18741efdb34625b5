"""A small project history for the similar-issue and estimate tests: one topic per issue."""

from typing import Any

from issues.services import issue_create

HISTORY = [
    ("SHOP-1", "Reset password email is not sent",
     "When a user asks to reset the password, no reset email arrives in the inbox.", 3),
    ("SHOP-2", "Export the order list to CSV",
     "Managers download the orders as a CSV file, with dates and totals.", 5),
    ("SHOP-3", "Dark mode for the settings page",
     "Add a dark theme toggle to the settings page and remember the choice.", 2),
    ("SHOP-4", "Pay with PayPal at checkout",
     "Integrate PayPal payments into the checkout flow, with refunds and receipts.", 13),
    ("SHOP-5", "Search products by name",
     "A search box on the catalogue that finds products by their name.", 5),
    ("SHOP-6", "Show the delivery date on the order page",
     "Customers see when their order will arrive, on the order page.", 2),
    # Another project's issue with the same words: never a neighbour of SHOP's issues.
    ("OTHER-1", "Reset password email is not sent",
     "The reset email never arrives when a user resets the password.", 8),
]  # fmt: skip


def make_history() -> dict[str, Any]:
    """Store the history; return the issues by key."""
    return {
        key: issue_create(key=key, title=title, description=description, story_points=points)
        for key, title, description, points in HISTORY
    }
