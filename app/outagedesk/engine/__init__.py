"""The Qt-free core that moves texts from the gateway to the database and on to the OMS."""
