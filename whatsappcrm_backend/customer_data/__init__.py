"""Tours, bookings, travellers and payments: the money core. Imports no gateway or channel."""
