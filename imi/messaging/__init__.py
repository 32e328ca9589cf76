"""The Bloodbank adapter: publish the outbox to RabbitMQ, consume what others send.

It imports the domain; nothing in the domain imports it.
"""
