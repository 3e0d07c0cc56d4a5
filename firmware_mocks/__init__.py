"""firmware_mocks."""
