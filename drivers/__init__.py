"""Device drivers: one module per protocol behind small capability interfaces.

Nothing outside this package imports a protocol library (pymodbus, aiocoap, aiomqtt,
bleak). Callers see `drivers.base`: typed states, commands, availability, and the
`DriverError` tree."""
