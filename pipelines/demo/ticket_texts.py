"""The short descriptions of the demo's tickets, as a service desk's users type them."""

SHORT_DESCRIPTIONS = {
    "Software": (
        "Outlook keeps asking for my password",
        "Excel freezes when opening the monthly sales report",
        "Teams update fails with error 0x80070005",
    ),
    "Hardware": (
        "Laptop battery does not charge",
        "Second monitor stays black on the docking station",
        "Printer on floor 2 jams on every print job",
    ),
    "Network": (
        "VPN drops every few minutes when working from home",
        "No Wi-Fi in meeting room Spree",
        "Shared drive S: is very slow",
    ),
    "Access": (
        "Account locked after password change",
        "New starter needs access to the finance share",
        "Cannot log in to the expense tool",
    ),
    "Inquiry / Help": (
        "How do I set up an out-of-office reply?",
        "Request for a second monitor",
        "Where do I find the holiday calendar?",
    ),
}
"""A quiet ticket's short description: one of its category's, in turn (no random draw)."""
SCRIPTED_DESCRIPTIONS = {
    "p1_breach": "Tills in all stores cannot reach the order server",
    "public_holiday": "Warehouse scanners do not sync stock counts",
}
"""The scripted tickets' own, by script (``items.desk_events``)."""
