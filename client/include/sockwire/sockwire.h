// Everything of the sockwire client library.
#pragma once

#include "sockwire/address.h"
#include "sockwire/client.h"
#include "sockwire/data_channel.h"
#include "sockwire/errors.h"
#include "sockwire/helpers.h"
#include "sockwire/resolver.h"
#include "sockwire/select.h"
#include "sockwire/socket.h"
#include "sockwire/stream.h"
