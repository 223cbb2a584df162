"""The business number and the traveller the WhatsApp emulator tests play with."""

APP_SECRET = "emulator-app-secret"
ACCESS_TOKEN = "EAAG-test-token"
PHONE_NUMBER_ID = "106540352242922"
WABA_ID = "102290129340398"
USER = "263771234567"
