"""Names the dead-code finder (vulture, run by ``make lint`` over src/ and bench/) reports but
that stay, each with the reason. vulture only parses this file; nothing imports or runs it.

Route handlers need no entry: ``[tool.vulture]`` in pyproject.toml ignores functions
decorated with Litestar's ``@get``/``@post``/``@patch``/``@put``/``@delete``. Add an entry
here only with its reason; if a reason stops being true, delete the code instead.
"""

# --- called or read by a framework, not by our code ---------------------------------------
_.on_connect  # paho calls the callbacks assigned to these attributes (mqtt_port, simulate)
_.on_disconnect  # paho callback attribute (mqtt_port, bench/control.py, bench/failure.py)
_.on_subscribe  # paho callback attribute
_.on_publish  # paho callback attribute
_.on_message  # paho callback attribute
_.on_socket_close  # paho callback attribute (actors/mqtt_network)
_.on_socket_register_write  # paho callback attribute (actors/mqtt_network)
_.connect_timeout  # paho reads it in connect() (mqtt_port, simulate/publisher)
_.props  # paho's callback signature: properties we do not need, passed positionally
_.traceback  # pykka's on_failure(exception_type, exception_value, traceback) signature
_.authenticate_request  # Litestar's AbstractAuthenticationMiddleware calls it
_.tags  # Litestar Controller attribute: the OpenAPI tag of every route in it
_.connection_made  # asyncio.Protocol callback (bench/sse_clients.py)
_.data_received  # asyncio.Protocol callback
_.connection_lost  # asyncio.Protocol callback
_.applied_at  # a column of the migrations table (storage/tables.py): schema, not code
_._ssl_wrap_socket  # paho's Client calls it; mqtt_port's _BufferedClient overrides it
_._create_actor_inbox  # pykka.Actor's hooks for a new kind of actor (actors/shared_thread)
_._create_future  # pykka.Actor hook
_._start_actor_loop  # pykka.Actor hook
mapped_decoder  # registered by @register_configured("mapped"); the registry calls it

# --- read by tests or tools, part of what a module offers ---------------------------------
_.restart  # embedded_broker.Mosquitto.restart: the embedded test/demo broker; tests restart it
use_port_block  # embedded_broker (brokers for tests): tests/conftest.py gives each pytest process a block
_.went_silent  # simulate.SimulateStats: the simulator's report, checked by tests/test_simulate
_.came_back  # simulate.SimulateStats, as above
_.offline_after_override_s  # storage.devices.StoredDevice: a column of the stored row

# --- alerts (issue 13) ------------------------------------------------------------------
_.do_POST  # bench/alerts.py: http.server calls it for each webhook the bench receives
_.log_message  # bench/alerts.py: http.server's hook, overridden to keep the bench quiet
RESOLVED  # alerts.model.AlertStateName: a state stored in the alert table and shown by the API
SENDING  # alerts.outbox.NoteState: a notification's stored state while a claim holds it
_.channels  # api.alert_schemas.ChannelList: a field of the JSON answer
_.min_value  # storage.tables.AlertRule: a column
_.max_value  # storage.tables.AlertRule: a column
_.url_encrypted  # storage.tables.AlertChannel: a column
_.secret_encrypted  # storage.tables.AlertChannel: a column

# --- fields of JSON answers (api/answers.py, api/device_answers.py, api/system_answers.py,
# status_object.py): set by keyword and read by the API's clients, never by our code ---------
_.last_24h  # answers.SiteHistory
_.serial_number  # device_answers.Gateway (and Datalogger)
_.is_online  # device_answers.Gateway, device_answers.Sensor
_.firmware_version  # device_answers.Gateway
_.unit_of_measure  # device_answers.Sensor
_.availability_history  # device_answers.DataloggerDetail
_.unhealthy  # system_answers.ConnectionCounts
_.instances  # system_answers.ClusterSummary
_.unowned_sites  # system_answers.ClusterSummary
_.connections  # system_answers.Health
_.cluster  # system_answers.Health
_.worker  # status_object.Owner
_.workers  # api.cluster_answers.InstanceAnswer (filled by the site workers)
_.connection_id  # status_object.StatusObject
_.handler_connected  # status_object.StatusObject
_.subscribed_topics  # status_object.StatusObject
_.topics_list  # status_object.StatusObject
