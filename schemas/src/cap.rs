//! Alert → OASIS CAP 1.2 XML.
