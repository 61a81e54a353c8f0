/* sample_event.h - a typical order-proposal CloudEvent (784 bytes), shared by
 * the C tests and the micro-benchmarks. */
#ifndef EDDY_SAMPLE_EVENT_H
#define EDDY_SAMPLE_EVENT_H

#define EDDY_SAMPLE_EVENT                                                                          \
	"{\"specversion\":\"1.0\","                                                                \
	"\"type\":\"com.relexsolutions.supply-chain.transactions.order-proposals.v1\","            \
	"\"source\":\"urn:relex:plan:customer-retail-001:order-proposals\",\"id\":\"ORD-1234\","   \
	"\"time\":\"2025-01-14T12:30:00Z\",\"datacontenttype\":\"application/json\","              \
	"\"meta\":{\"correlation_id\":\"0b7c3a52-8a55-4a4c-9f64-5b9b8e8c2b1e\","                   \
	"\"tenant\":\"customer-retail-001\",\"source\":{\"application\":\"relex-plan\","           \
	"\"environment_type\":\"production\"}},\"data\":{\"order_id\":\"ORD-1234\","               \
	"\"product_id\":\"PROD-000123\",\"location_id\":\"STORE-0042\","                           \
	"\"supplier_id\":\"SUP-00077\",\"quantity\":312.0,\"unit\":\"CS\","                        \
	"\"order_date\":\"2025-01-14\",\"delivery_date\":\"2025-01-20T08:00:00Z\","                \
	"\"status\":\"proposed\",\"version\":3,\"lines\":[{\"line_no\":1,\"sku\":\"SKU-0001234\"," \
	"\"quantity\":200,\"unit_cost\":12.5},{\"line_no\":2,\"sku\":\"SKU-0004321\","             \
	"\"quantity\":112,\"unit_cost\":3.75}]}}"

#endif
